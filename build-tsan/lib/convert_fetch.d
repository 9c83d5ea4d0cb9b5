build-tsan/lib/convert_fetch.o: lib/convert_fetch.c lib/convert.h \
 lib/buf.h lib/config.h lib/gb.h lib/curlapi.h
lib/convert.h:
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/curlapi.h:
