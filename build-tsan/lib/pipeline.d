build-tsan/lib/pipeline.o: lib/pipeline.c lib/host.h lib/gb.h lib/io.h \
 lib/buf.h lib/pipeline.h
lib/host.h:
lib/gb.h:
lib/io.h:
lib/buf.h:
lib/pipeline.h:
