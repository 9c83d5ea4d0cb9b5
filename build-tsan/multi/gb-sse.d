build-tsan/multi/gb-sse.o: bin/gb-sse.c lib/config.h lib/gb.h lib/gb.h \
 lib/io.h lib/buf.h lib/sse.h lib/stream.h
lib/config.h:
lib/gb.h:
lib/gb.h:
lib/io.h:
lib/buf.h:
lib/sse.h:
lib/stream.h:
