build-tsan/lib/serve.o: lib/serve.c lib/gemini.h lib/buf.h lib/io.h \
 lib/pipeline.h lib/gb.h lib/serve.h lib/config.h lib/http.h lib/mask.h
lib/gemini.h:
lib/buf.h:
lib/io.h:
lib/pipeline.h:
lib/gb.h:
lib/serve.h:
lib/config.h:
lib/http.h:
lib/mask.h:
