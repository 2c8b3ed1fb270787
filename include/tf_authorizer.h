/*
 * tf_authorizer.h: the FastCGI AUTHORIZER role, in mod_fcgid's three
 * phases (TracFcgiAuthenticator, TracFcgiAuthorizer,
 * TracFcgiAccessChecker): before the request is served, an application
 * of a pool of its own (same spawning, queue and timeouts as responders)
 * is asked with the request's params and no body. 200 lets the request
 * on and turns its Variable-NAME headers into the request's variable
 * NAME (which the responder then gets); any other answer goes to the
 * client as the application gave it (401 with its WWW-Authenticate,
 * 403, a 302 to a login page), unless that phase's ...Authoritative Off
 * leaves the decision to httpd's other modules.
 */
#ifndef TF_AUTHORIZER_H
#define TF_AUTHORIZER_H

#include "httpd.h"

/** check_authn hook: TracFcgiAuthenticator (Basic credentials). */
int tf_authorizer_authn(request_rec *r);

/** check_authz hook: TracFcgiAuthorizer. */
int tf_authorizer_authz(request_rec *r);

/** check_access hook: TracFcgiAccessChecker. */
int tf_authorizer_access(request_rec *r);

#endif /* TF_AUTHORIZER_H */
