build-tsan/lib/convert_resp.o: lib/convert_resp.c lib/convert.h lib/buf.h \
 lib/config.h lib/gb.h lib/gemini.h
lib/convert.h:
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/gemini.h:
