build-tsan/lib/gb.o: lib/gb.c lib/gb.h
lib/gb.h:
