"""Crisis case management: students (一生一案), cases, referrals and school reports."""
