build-tsan/lib/io.o: lib/io.c lib/io.h lib/buf.h
lib/io.h:
lib/buf.h:
