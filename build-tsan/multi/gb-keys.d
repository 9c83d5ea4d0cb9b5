build-tsan/multi/gb-keys.o: bin/gb-keys.c lib/buf.h lib/config.h lib/gb.h \
 lib/curlapi.h lib/gb.h lib/keys.h lib/config.h lib/mask.h
lib/buf.h:
lib/config.h:
lib/gb.h:
lib/curlapi.h:
lib/gb.h:
lib/keys.h:
lib/config.h:
lib/mask.h:
