build-tsan/lib/curlapi.o: lib/curlapi.c lib/curlapi.h lib/gb.h
lib/curlapi.h:
lib/gb.h:
