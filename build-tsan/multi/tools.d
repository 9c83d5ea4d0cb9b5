build-tsan/multi/tools.o: build-tsan/multi/tools.c lib/pipeline.h \
 lib/gb.h
lib/pipeline.h:
lib/gb.h:
