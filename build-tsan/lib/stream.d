build-tsan/lib/stream.o: lib/stream.c lib/buf.h lib/gemini.h lib/stream.h \
 lib/gb.h
lib/buf.h:
lib/gemini.h:
lib/stream.h:
lib/gb.h:
