build-tsan/obj/gb-call.o: bin/gb-call.c lib/buf.h lib/config.h lib/gb.h \
 lib/gb.h lib/host.h lib/io.h lib/buf.h lib/job.h lib/keys.h lib/config.h \
 lib/pipeline.h lib/upstream.h lib/mask.h
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/gb.h:
lib/host.h:
lib/io.h:
lib/buf.h:
lib/job.h:
lib/keys.h:
lib/config.h:
lib/pipeline.h:
lib/upstream.h:
lib/mask.h:
