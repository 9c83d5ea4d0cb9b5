build-tsan/lib/convert_req.o: lib/convert_req.c lib/convert.h lib/buf.h \
 lib/config.h lib/gb.h lib/gemini.h
lib/convert.h:
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/gemini.h:
