build-tsan/lib/sse.o: lib/sse.c lib/sse.h lib/buf.h lib/gb.h
lib/sse.h:
lib/buf.h:
lib/gb.h:
