/*
 * cgi_head.c: the end of a CGI response header block (see tf_cgi_head.h).
 * Pure: libc only. The scan resumes where the previous call stopped, so
 * gathering a header block read by read stays linear.
 */
#include "tf_cgi_head.h"

size_t tf_cgi_header_end(const char *buf, size_t len, size_t from)
{
    size_t i = from > 3 ? from - 3 : 0;

    /* an empty first line: no headers at all */
    if (i == 0 && len >= 1 && buf[0] == '\n') {
        return 1;
    }
    if (i == 0 && len >= 2 && buf[0] == '\r' && buf[1] == '\n') {
        return 2;
    }
    for (; i + 1 < len; i++) {
        if (buf[i] != '\n') {
            continue;
        }
        /* RFC 3875 §6.2: a line ends with LF (or CRLF); an empty line
         * ends the block */
        if (buf[i + 1] == '\n') {
            return i + 2;
        }
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n') {
            return i + 3;
        }
    }
    return 0;
}
