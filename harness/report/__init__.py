"""Reports: SIP ladder diagrams (SVG, HTML), RTP plots (PNG), Allure attachments, summaries.

- :mod:`harness.report.ladder`: the ladder of a capture's SIP, as SVG and as an HTML view;
- :mod:`harness.report.plots`: inter-arrival delta and RFC 3550 jitter of RTP streams;
- :mod:`harness.report.calls`: the calls of a capture, one row per Call-ID;
- :mod:`harness.report.attachments`: one call's artifacts, attached to Allure when it runs,
  and the flows-by-steps summary table.
"""
