"""The checks: legs, the cursor over a leg, the seed's steps, headers, SDP and RTP rules,
and the verdicts they give."""
