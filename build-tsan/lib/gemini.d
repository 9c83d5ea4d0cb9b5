build-tsan/lib/gemini.o: lib/gemini.c lib/gemini.h lib/buf.h
lib/gemini.h:
lib/buf.h:
