build-tsan/lib/mask.o: lib/mask.c lib/mask.h
lib/mask.h:
