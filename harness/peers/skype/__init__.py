"""The simulated Skype for SIP service and the Skype network behind Skype for Asterisk."""
