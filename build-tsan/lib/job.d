build-tsan/lib/job.o: lib/job.c lib/job.h
lib/job.h:
