"""`harness load`: calls through the gateway at a rate, each one verified from the capture.

Sans-I/O (a capture or records in, records and figures out): ``correlate`` (each softphone
leg joined to its Lync leg), ``verify`` (the suite's rules per call: ``lync_flow``'s
set-up, hold and BYE steps, ``sip_rules``, ``rtp_rules``), ``analyse`` (both, over a
capture), ``emodel`` (ITU-T G.107 MOS), ``figures`` (percentiles and the summary, from the
call records only), ``records`` (the JSON result), ``plan`` (what a run may be asked),
``ramp`` (rising rates until fewer than 99% verify), ``merge`` (several generators' results).
I/O: ``run`` (SIPp, the capture agent, the Mediation Server's faults), ``cut`` (each failed
call's own pcap), ``progress`` (stderr), ``html`` (the page and its plots).
"""
