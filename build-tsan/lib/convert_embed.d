build-tsan/lib/convert_embed.o: lib/convert_embed.c lib/convert.h \
 lib/buf.h lib/config.h lib/gb.h
lib/convert.h:
lib/buf.h:
lib/config.h:
lib/gb.h:
