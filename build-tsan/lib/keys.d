build-tsan/lib/keys.o: lib/keys.c lib/buf.h lib/io.h lib/keys.h \
 lib/config.h lib/gb.h lib/mask.h
lib/buf.h:
lib/io.h:
lib/keys.h:
lib/config.h:
lib/gb.h:
lib/mask.h:
