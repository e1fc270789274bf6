"""abuse_test.py - smtpd's abuse defences (issue 13 item 6) end to end: Python's smtplib
and a raw SMTP client against the real suite in a sandbox whose loopback is not exempt
(smtpd_client_event_limit_exceptions empty), each case from its own 127.0.0.x source
address so that the per-address counts of one case never touch another's.

Bad inputs first: a client that keeps erring (its replies held back past
smtpd_soft_error_limit, while another session is answered at once), a directory
harvest (replies held past smtpd_unknown_recipient_tarpit, 421 4.7.0 at
smtpd_unknown_recipient_limit), one address holding too many sessions (421 4.7.0; a
slot freed is usable again; another address is not affected), one address connecting
too often (421 4.7.0 past the per-minute rate); then a trusted network exempt from all.

Run by tests/interop/abuse.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap()
report = TAP.ok


class Raw(ts.SmtpLines):
    def __init__(self, port, source):
        super().__init__(port, source=source)


def error_sleep(box):
    c = Raw(box.port, "127.0.0.4")
    c.cmd("EHLO client.example")
    quick = [c.timed("BOGUS%d" % i) for i in range(3)]
    held, took = c.timed("BOGUS-held")
    # Meanwhile another session is answered at once: the delay is a timer, not a sleep.
    other = Raw(box.port, "127.0.0.4")
    c.s.sendall(b"BOGUS-again\r\n")
    t = time.monotonic()
    noop = other.cmd("NOOP")
    other_took = time.monotonic() - t
    again = c.reply()
    good, good_took = c.timed("NOOP")
    c.close()
    other.close()
    report(all(r[0] == 500 and d < 0.8 for r, d in quick),
           "the first 3 errors (smtpd_soft_error_limit) are answered at once", quick)
    report(held[0] == 500 and took >= 0.9, "the 4th error reply is held back 1 s (%.2f s)" % took,
           held)
    report(noop[0] == 250 and other_took < 0.5,
           "another session is answered meanwhile (%.2f s)" % other_took, noop)
    report(again[0] == 500 and good[0] == 250 and good_took < 0.5,
           "a good command is answered at once after that", (again, good, good_took))


def harvest_tarpit(box):
    c = Raw(box.port, "127.0.0.5")
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.org>")
    first = [c.timed("RCPT TO:<nobody%d@localhost>" % i) for i in range(2)]
    third, took = c.timed("RCPT TO:<nobody2@localhost>")
    known, known_took = c.timed("RCPT TO:<%s@localhost>" % box.user)
    fourth = c.cmd("RCPT TO:<nobody3@localhost>")
    bye = c.reply()
    closed = c.closed()
    c.close()
    report(all(r[0] == 550 and "5.1.1" in r[1] and d < 0.8 for r, d in first),
           "2 unknown recipients (the tarpit threshold) are answered at once", first)
    report(third[0] == 550 and took >= 0.9,
           "the 3rd unknown recipient's reply is held back 1 s (%.2f s)" % took, third)
    report(known[0] == 250 and known_took >= 0.9,
           "past the threshold a good RCPT is held back too (%.2f s)" % known_took, known)
    report(fourth[0] == 550 and bye[0] == 421 and "4.7.0" in bye[1] and
           "too many unknown recipients" in bye[1] and closed,
           "the 4th unknown recipient (smtpd_unknown_recipient_limit): 550, then 421 4.7.0, "
           "closed", (fourth, bye))


def concurrency_limit(box):
    held = [smtplib.SMTP("127.0.0.1", box.port, timeout=20, source_address=("127.0.0.6", 0))
            for _ in range(3)]
    try:
        smtplib.SMTP("127.0.0.1", box.port, timeout=20, source_address=("127.0.0.6", 0))
        report(False, "a 4th session from one address: 421 4.7.0", "connected")
    except smtplib.SMTPConnectError as e:
        report(e.smtp_code == 421 and b"4.7.0" in e.smtp_error and
               b"too many connections from 127.0.0.6" in e.smtp_error,
               "a 4th session from one address: 421 4.7.0", repr(e))
    other = smtplib.SMTP("127.0.0.1", box.port, timeout=20, source_address=("127.0.0.7", 0))
    report(other.noop()[0] == 250, "another address still gets a session")
    other.quit()
    held.pop().quit()
    ok = False
    for _ in range(50):  # smtpd frees the slot once it sees the close
        try:
            again = smtplib.SMTP("127.0.0.1", box.port, timeout=20,
                                 source_address=("127.0.0.6", 0))
            ok = again.noop()[0] == 250
            again.quit()
            break
        except smtplib.SMTPConnectError:
            time.sleep(0.1)
    report(ok, "a freed slot can be used again")
    for s in held:
        s.quit()


def rate_limit(box):
    codes = []
    for _ in range(6):
        c = Raw(box.port, "127.0.0.3")
        codes.append(c.greeting[0])
        c.cmd("QUIT")
        c.close()
    c = Raw(box.port, "127.0.0.3")
    over = c.greeting
    c.close()
    report(codes == [220] * 6, "6 connections within a minute (the rate limit) are greeted", codes)
    report(over[0] == 421 and "4.7.0" in over[1] and "per minute" in over[1],
           "the 7th within the minute: 421 4.7.0", over)
    report("[127.0.0.3]: too many connections per minute" in box.log(),
           "the refusal is logged", box.tail())


def trusted_network_is_exempt(box):
    held = [Raw(box.port, "127.0.0.8") for _ in range(8)]
    report(all(h.greeting[0] == 220 for h in held),
           "8 sessions from a trusted network are all greeted", [h.greeting for h in held])
    c = held[0]
    c.cmd("EHLO client.example")
    took = [c.timed("BOGUS%d" % i)[1] for i in range(6)]
    report(max(took) < 0.8, "its errors are never held back", took)
    for h in held:
        h.close()


def main():
    extra = ["smtpd_client_event_limit_exceptions=", "trusted_networks=127.0.0.8/32",
             "smtpd_soft_error_limit=3", "smtpd_error_sleep_time=1s",
             "smtpd_unknown_recipient_tarpit=2", "smtpd_unknown_recipient_limit=4",
             "smtpd_tarpit_delay=1s", "smtpd_client_connection_count_limit=3",
             "smtpd_client_connection_rate_limit=6"]
    box = ts.Sandbox(prefix="tegami-abuse", extra=extra)
    try:
        up = box.start()
        report(up, "suite greets on 127.0.0.1:%d" % box.port, box.tail())
        if up:
            for fn in (error_sleep, harvest_tarpit, concurrency_limit, rate_limit,
                       trusted_network_is_exempt):
                TAP.case(fn, box, tail=box.tail)
    finally:
        box.stop()
        box.remove()
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
