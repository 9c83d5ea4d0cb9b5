build-tsan/obj/gb-serve.o: bin/gb-serve.c lib/config.h lib/gb.h lib/gb.h \
 lib/http.h lib/buf.h lib/mask.h lib/pipeline.h lib/serve.h lib/config.h \
 lib/http.h lib/mask.h
lib/config.h:
lib/gb.h:
lib/gb.h:
lib/http.h:
lib/buf.h:
lib/mask.h:
lib/pipeline.h:
lib/serve.h:
lib/config.h:
lib/http.h:
lib/mask.h:
