build-tsan/lib/upstream.o: lib/upstream.c lib/buf.h lib/gemini.h \
 lib/keys.h lib/config.h lib/gb.h lib/mask.h lib/upstream.h
lib/buf.h:
lib/gemini.h:
lib/keys.h:
lib/config.h:
lib/gb.h:
lib/mask.h:
lib/upstream.h:
