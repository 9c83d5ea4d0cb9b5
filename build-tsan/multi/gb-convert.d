build-tsan/multi/gb-convert.o: bin/gb-convert.c lib/buf.h lib/config.h \
 lib/gb.h lib/convert.h lib/buf.h lib/config.h lib/gb.h lib/gemini.h \
 lib/io.h
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/convert.h:
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/gemini.h:
lib/io.h:
