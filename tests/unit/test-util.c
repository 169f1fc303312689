/* Unit tests of the core's encodings: base64 and UTF-8 validation. */
#include "config.h"

#include "tap.h"
#include "status.h"
#include "util.h"

#include <stdlib.h>

static void base64_roundtrip(const char *plain, const char *encoded)
{
	char *e = nrc_base64_encode(plain, strlen(plain));
	is_str(e, encoded, "base64 encodes '%s'", plain);
	free(e);
	size_t n = 0;
	unsigned char *d = nrc_base64_decode(encoded, &n);
	ok(d && n == strlen(plain) && !memcmp(d, plain, n),
	   "base64 decodes '%s'", encoded);
	free(d);
}

int main(void)
{
	/* RFC 4648, section 10. */
	base64_roundtrip("", "");
	base64_roundtrip("f", "Zg==");
	base64_roundtrip("fo", "Zm8=");
	base64_roundtrip("foo", "Zm9v");
	base64_roundtrip("foob", "Zm9vYg==");
	base64_roundtrip("fooba", "Zm9vYmE=");
	base64_roundtrip("foobar", "Zm9vYmFy");

	size_t n;
	unsigned char *d = nrc_base64_decode("Zm9v\nYmFy\n", &n);
	ok(d && n == 6 && !memcmp(d, "foobar", 6),
	   "base64 ignores line breaks, as Python's decodebytes");
	free(d);
	ok(nrc_base64_decode("Zm9v!", &n) == NULL, "base64 rejects '!'");
	ok(nrc_base64_decode("Zg=a", &n) == NULL, "base64 rejects data after padding");
	ok(nrc_base64_decode("Z", &n) == NULL, "base64 rejects a lone sextet");

	/* Status servers get Avocado's form of output. */
	cJSON *m = cJSON_Parse("{\"status\":\"running\",\"type\":\"log\","
			       "\"log\":\"h\u00e9\\n\",\"encoding\":\"utf-8\"}");
	cJSON *a = nrc_status_avocado_form(m);
	char *s = cJSON_PrintUnformatted(a);
	ok(!strcmp(s, "{\"status\":\"running\",\"type\":\"log\",\"log\":"
		      "{\"__base64_encoded__\":\"aMOpCg==\"},\"encoding\":\"utf-8\"}"),
	   "Avocado's form: text becomes __base64_encoded__ bytes, encoding kept");
	free(s);
	cJSON_Delete(a);
	cJSON_Delete(m);
	m = cJSON_Parse("{\"status\":\"running\",\"log\":\"/w==\",\"encoding\":\"base64\"}");
	a = nrc_status_avocado_form(m);
	s = cJSON_PrintUnformatted(a);
	ok(!strcmp(s, "{\"status\":\"running\",\"log\":{\"__base64_encoded__\":\"/w==\"}}"),
	   "Avocado's form: bytes that are not text lose the encoding");
	free(s);
	cJSON_Delete(a);
	cJSON_Delete(m);

	const unsigned char ascii[] = "plain text\n";
	ok(nrc_utf8_valid_prefix(ascii, sizeof ascii - 1) == sizeof ascii - 1,
	   "ASCII is valid UTF-8");
	const unsigned char euro[] = {'a', 0xE2, 0x82, 0xAC};
	ok(nrc_utf8_valid_prefix(euro, 4) == 4, "a euro sign is valid");
	ok(nrc_utf8_valid_prefix(euro, 3) == 1,
	   "a sequence cut at the end gives the complete prefix");
	const unsigned char bad[] = {'a', 0xFF, 'b'};
	ok(nrc_utf8_valid_prefix(bad, 3) == (size_t)-1, "0xFF is invalid");
	const unsigned char overlong[] = {0xC0, 0xAF};
	ok(nrc_utf8_valid_prefix(overlong, 2) == (size_t)-1,
	   "an overlong encoding is invalid");
	const unsigned char surrogate[] = {0xED, 0xA0, 0x80};
	ok(nrc_utf8_valid_prefix(surrogate, 3) == (size_t)-1,
	   "a UTF-16 surrogate is invalid");

	const unsigned char mixed[] = {0xC3, 0xA9, 0xFF};
	ok(nrc_utf8_char_len(mixed, 3) == 2,
	   "the length of a valid character, whatever follows it");
	ok(nrc_utf8_char_len(mixed + 2, 1) == 0, "0 for an invalid byte");
	ok(nrc_utf8_char_len(euro + 1, 2) == 0, "0 for a character cut short");
	ok(nrc_utf8_fix("caf\xc3\xa9") == NULL, "valid UTF-8 needs no fixing");
	char *fixed = nrc_utf8_fix("a\xff\xc3" "b\xe2\x82");
	is_str(fixed, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd",
	       "each byte that is not UTF-8 becomes U+FFFD");
	free(fixed);

	char shown[256] = "";
	FILE *f = fmemopen(shown, sizeof shown - 1, "w");
	nrc_fputs_safe(f, "\x1b[31mred\x07\nnot ok 1\t\r\x7f\xc2\x9b\xff\xc3\xa9", NULL);
	fputc('|', f);
	nrc_fputs_safe(f, "a\nb", "  ");
	fclose(f);
	is_str(shown, "\\u001b[31mred\\u0007\\nnot ok 1\\t\\r\\u007f\\u009b\\xff\xc3\xa9|a\n  b",
	       "control characters escaped, UTF-8 kept, newlines kept with an indent");
	return tap_done();
}
