build-tsan/lib/convert_util.o: lib/convert_util.c lib/convert.h lib/buf.h \
 lib/config.h lib/gb.h
lib/convert.h:
lib/buf.h:
lib/config.h:
lib/gb.h:
