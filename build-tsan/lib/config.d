build-tsan/lib/config.o: lib/config.c lib/buf.h lib/config.h lib/gb.h \
 lib/io.h
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/io.h:
