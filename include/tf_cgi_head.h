/*
 * tf_cgi_head.h: where a CGI response's header block ends (RFC 3875 §6.2:
 * header lines, then an empty line; LF or CRLF). Pure: libc only, so that
 * it is unit-tested and fuzzed on its own. The header lines themselves are
 * parsed by httpd (ap_scan_script_header_err_brigade_ex), as mod_cgi does.
 */
#ifndef TF_CGI_HEAD_H
#define TF_CGI_HEAD_H

#include <stddef.h>

/**
 * Look for the empty line that ends the header block in buf[0..len).
 * @param from  bytes already searched by an earlier call on the same,
 *              longer-growing buffer (the search resumes 3 bytes before,
 *              so an end split between two calls is found).
 * @return the offset just past the empty line, or 0 if the block has not
 *         ended yet. A block that starts with an empty line ends at once
 *         (returns 1 or 2).
 */
size_t tf_cgi_header_end(const char *buf, size_t len, size_t from);

#endif /* TF_CGI_HEAD_H */
