build-tsan/lib/http.o: lib/http.c lib/http.h lib/buf.h lib/io.h
lib/http.h:
lib/buf.h:
lib/io.h:
