/*
 * voice.c - speech voice names (voice.h).
 *
 * Gemini's TTS models speak in 30 prebuilt voices, named after stars
 * and moons; the API wants the name as Google spells it. OpenAI's
 * clients send their own voice names (alloy, echo, ...), which Gemini
 * does not know: each is given the Gemini voice whose character Google
 * describes closest to OpenAI's description of it. The table is part of
 * the interface (gb-convert(1) lists it), so it only grows.
 */
#include <stddef.h>
#include <strings.h>

#include "gb.h"
#include "voice.h"

static const char *const gemini[] = {
	"Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus",
	"Aoede", "Callirrhoe", "Autonoe", "Enceladus", "Iapetus", "Umbriel",
	"Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
	"Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux",
	"Pulcherrima", "Achird", "Zubenelgenubi", "Vindemiatrix",
	"Sadachbia", "Sadaltager", "Sulafat"
};

/* OpenAI's voice -> Gemini's (Google's one-word character in brackets). */
static const struct {
	const char	*openai;
	const char	*gemini;
} openai[] = {
	{ "alloy", "Schedar" },		/* neutral, balanced: Even */
	{ "ash", "Iapetus" },		/* clear: Clear */
	{ "ballad", "Algieba" },	/* smooth, expressive: Smooth */
	{ "cedar", "Gacrux" },		/* natural, mature: Mature */
	{ "coral", "Achird" },		/* warm, friendly: Friendly */
	{ "echo", "Charon" },		/* resonant, informative: Informative */
	{ "fable", "Puck" },		/* lively storyteller: Upbeat */
	{ "marin", "Sulafat" },		/* natural, warm: Warm */
	{ "nova", "Autonoe" },		/* bright, friendly: Bright */
	{ "onyx", "Orus" },		/* deep, authoritative: Firm */
	{ "sage", "Sadaltager" },	/* calm, wise: Knowledgeable */
	{ "shimmer", "Achernar" },	/* soft: Soft */
	{ "verse", "Sadachbia" },	/* versatile, lively: Lively */
};

const char *
gb_voice_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < GB_NELEM(gemini); i++)
		if (strcasecmp(name, gemini[i]) == 0)
			return gemini[i];
	for (i = 0; i < GB_NELEM(openai); i++)
		if (strcasecmp(name, openai[i].openai) == 0)
			return openai[i].gemini;
	return NULL;
}
