//! The messages of the MGCP benchmark, shared with the instruction-count example.

pub const CRCX: &[u8] = b"CRCX 1204 aaln/1@cta7.headend.example MGCP 1.0 NCS 1.0\r\n\
C: A3C47F21456789F0\r\n\
L: p:20, a:PCMU, e:on, s:off, k:base64:q83vASNFZ4mrze8BI0VniQ==\r\n\
M: sendrecv\r\n\
N: ca@controller.headend.example:2727\r\n\
X: 0123456789AC\r\n\
R: L/hu(N), D/[0-9#*T](D)\r\n\
\r\n\
v=0\r\n\
o=- 25678 753849 IN IP4 10.11.12.13\r\n\
s=-\r\n\
c=IN IP4 10.11.12.13\r\n\
t=0 0\r\n\
m=audio 40012 RTP/SAVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=ptime:20\r\n\
a=crypto:1 AEAD_AES_128_GCM inline:q83vASNFZ4mrze8BI0VniQEjRWeJq83vASNF\r\n";

pub const RESPONSE: &[u8] = b"200 1204 OK\r\n\
I: FDE234C8\r\n\
\r\n\
v=0\r\n\
o=- 4858 1 IN IP4 10.11.12.14\r\n\
s=-\r\n\
c=IN IP4 10.11.12.14\r\n\
t=0 0\r\n\
m=audio 40020 RTP/SAVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=ptime:20\r\n\
a=crypto:1 AEAD_AES_128_GCM inline:q83vASNFZ4mrze8BI0VniQEjRWeJq83vASNF\r\n";
