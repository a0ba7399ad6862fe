"""A domain nobody hosts is answered as a hosted one is: challenged, then refused 403 as a wrong
password, so that which domains (tenants) exist cannot be told from outside."""

from __future__ import annotations

import re

from tests.pbx.test_router import PHONE, authenticated, invite, router  # noqa: F401

from ringfence.pbx.router import Refused, Router


def test_an_unknown_domain_is_challenged_then_refused_like_a_wrong_password(
    router: Router,  # noqa: F811
) -> None:
    hosted = router.route(invite("9999", "a.example", "1002@a.example"), PHONE)
    stranger = router.route(invite("9999", "nowhere.example", "1002@nowhere.example"), PHONE)
    assert isinstance(hosted, Refused)
    assert isinstance(stranger, Refused)
    assert (int(hosted.status), int(stranger.status)) == (407, 407)
    masked = [
        re.sub(r'(nonce|realm)="[^"]*"', r'\1=""', value)
        for r in (hosted, stranger)
        for _, value in r.headers
    ]
    assert masked[0] == masked[1]
    assert 'realm="nowhere.example"' in dict(stranger.headers)["Proxy-Authenticate"]
    # Answering the challenge with any password: 403, as for an unknown user of a hosted domain.
    guessed = authenticated(router, "9999", "nowhere.example", "1002@nowhere.example")
    refused = router.route(guessed, PHONE)
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason, refused.public) == (403, "unknown_domain", False)
