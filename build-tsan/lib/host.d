build-tsan/lib/host.o: lib/host.c lib/host.h lib/gb.h lib/job.h
lib/host.h:
lib/gb.h:
lib/job.h:
