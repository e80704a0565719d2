BEGIN TRANSACTION;
CREATE TABLE answer_feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    faq_id TEXT NOT NULL,
    kb_version TEXT,
    language TEXT,
    channel TEXT,
    value INTEGER NOT NULL,
    answered_at REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (conversation_id, answer_id)
);
INSERT INTO "answer_feedback" VALUES(1,'conv-9','a-1','faq-1','v1','en','socketio',1,1.79661504104146075243e+09,1.79661510106537914278e+09,1.79661510106537914278e+09);
INSERT INTO "answer_feedback" VALUES(2,'conv-9','a-2','faq-2','v1','en','socketio',-1,1.79661507104146075247e+09,1.79661510108132529256e+09,1.79661510108132529256e+09);
CREATE TABLE handoff_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES handoff_tickets (id),
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    actor TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    at REAL NOT NULL
);
INSERT INTO "handoff_events" VALUES(1,1,'created',NULL,'waiting','bot','{"reason": "customer_request"}',1.79661510009205365183e+09);
INSERT INTO "handoff_events" VALUES(2,1,'claim','waiting','with_agent','ann','{}',1.79661510011748981477e+09);
INSERT INTO "handoff_events" VALUES(3,1,'resolve','with_agent','resolved','ann','{}',1.79661510033051252362e+09);
INSERT INTO "handoff_events" VALUES(4,1,'rated',NULL,NULL,'customer','{"score": 5}',1.79661510034566426277e+09);
INSERT INTO "handoff_events" VALUES(5,2,'created',NULL,'waiting','bot','{"reason": "customer_request"}',1.79661510035642194745e+09);
INSERT INTO "handoff_events" VALUES(6,2,'claim','waiting','with_agent','ann','{}',1.79661510041401410102e+09);
INSERT INTO "handoff_events" VALUES(7,2,'release','with_agent','waiting','ann','{}',1.79661510085646152498e+09);
INSERT INTO "handoff_events" VALUES(8,3,'created',NULL,'waiting','bot','{"reason": "customer_request"}',1.79661510087742424006e+09);
INSERT INTO "handoff_events" VALUES(9,3,'claim','waiting','with_agent','ann','{}',1796615100.89561);
INSERT INTO "handoff_events" VALUES(10,4,'created',NULL,'waiting','bot','{"reason": "low_confidence"}',1.79661510097519636153e+09);
CREATE TABLE handoff_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES handoff_tickets (id),
    conversation_id TEXT NOT NULL,
    role TEXT NOT NULL,
    author TEXT,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    source_ts REAL,
    delivered_at REAL
, via TEXT);
INSERT INTO "handoff_messages" VALUES(1,1,'conv-1','customer',NULL,'more from customer 1',1.79661510013758492472e+09,11.0,NULL,NULL);
INSERT INTO "handoff_messages" VALUES(2,1,'conv-1','agent','ann','reply 1 by chat',1.79661510016138625152e+09,NULL,1.79661510030546593664e+09,'chat');
INSERT INTO "handoff_messages" VALUES(3,1,'conv-1','agent','ann','reply 1 by email',1.79661510018876266481e+09,NULL,NULL,'email');
INSERT INTO "handoff_messages" VALUES(4,1,'conv-1','note','ann','note 1',1.79661510026193833346e+09,NULL,NULL,NULL);
INSERT INTO "handoff_messages" VALUES(5,2,'conv-2','customer',NULL,'more from customer 2',1.79661510047057294847e+09,12.0,NULL,NULL);
INSERT INTO "handoff_messages" VALUES(6,2,'conv-2','agent','ann','reply 2 by chat',1.7966151005649251938e+09,NULL,NULL,'chat');
INSERT INTO "handoff_messages" VALUES(7,2,'conv-2','agent','ann','reply 2 by email',1.79661510068818831443e+09,NULL,NULL,'email');
INSERT INTO "handoff_messages" VALUES(8,2,'conv-2','note','ann','note 2',1.79661510083255672454e+09,NULL,NULL,NULL);
INSERT INTO "handoff_messages" VALUES(9,3,'conv-3','customer',NULL,'more from customer 3',1.79661510092140769964e+09,13.0,NULL,NULL);
INSERT INTO "handoff_messages" VALUES(10,3,'conv-3','agent','ann','reply 3 by chat',1.79661510094212198253e+09,NULL,NULL,'chat');
INSERT INTO "handoff_messages" VALUES(11,3,'conv-3','note','ann','note 3',1.79661510095887231829e+09,NULL,NULL,NULL);
CREATE TABLE handoff_tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    language TEXT NOT NULL,
    customer TEXT NOT NULL,
    question TEXT NOT NULL,
    candidates TEXT NOT NULL,
    reason TEXT NOT NULL,
    transcript TEXT NOT NULL,
    kb_version TEXT,
    status TEXT NOT NULL DEFAULT 'waiting',
    created_at REAL NOT NULL
, customer_email TEXT, customer_key TEXT, agent TEXT, claimed_at REAL, first_reply_at REAL, closed_at REAL, rating_score INTEGER, rating_comment TEXT, rated_at REAL, spool_id TEXT, customer_copy TEXT);
INSERT INTO "handoff_tickets" VALUES(1,'conv-1','socketio','en','{"customer_email": "c1@example.com", "customer_name": "Customer 1"}','question 1 é ж ع','[{"id": "faq-1", "question": "q", "score": 0.4}]','customer_request','[{"role": "user", "text": "hello 1", "ts": 1.0}]','v1','resolved',1.79661510009205365183e+09,'c1@example.com',NULL,'ann',1.79661510011748981477e+09,1.79661510016138625152e+09,1.79661510033051252362e+09,5,'great, thanks',1.79661510034566426277e+09,NULL,NULL);
INSERT INTO "handoff_tickets" VALUES(2,'conv-2','rest','ar','{"customer_email": "c2@example.com", "customer_name": "Customer 2"}','question 2 é ж ع','[{"id": "faq-2", "question": "q", "score": 0.4}]','customer_request','[{"role": "user", "text": "hello 2", "ts": 1.0}]','v1','waiting',1.79661510035642194745e+09,'c2@example.com',NULL,NULL,1.79661510041401410102e+09,1.7966151005649251938e+09,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "handoff_tickets" VALUES(3,'conv-3','socketio','ru','{"customer_id": "cust-3"}','question 3 é ж ع','[{"id": "faq-3", "question": "q", "score": 0.4}]','customer_request','[{"role": "user", "text": "hello 3", "ts": 1.0}]','v1','with_agent',1.79661510087742424006e+09,NULL,'cust-3','ann',1796615100.89561,1.79661510094212198253e+09,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "handoff_tickets" VALUES(4,'conv-4','rest','en','{"customer_email": "c4@example.com", "customer_name": "Customer 4"}','question 4 é ж ع','[{"id": "faq-4", "question": "q", "score": 0.4}]','low_confidence','[{"role": "user", "text": "hello 4", "ts": 1.0}]','v1','waiting',1.79661510097519636153e+09,'c4@example.com',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL);
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    username TEXT NOT NULL,
    at REAL NOT NULL
);
INSERT INTO "login_failures" VALUES(1,'127.0.0.1','ann',1.79661509995813417433e+09);
INSERT INTO "login_failures" VALUES(2,'10.0.0.2','bob',1.79661509998132491111e+09);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    dead_at REAL,
    last_error TEXT,
    channel TEXT NOT NULL DEFAULT 'webhook',
    receiver TEXT NOT NULL DEFAULT '',
    ref TEXT
);
INSERT INTO "outbox" VALUES(1,'0e25f08867fe475cac5e84dbd2e3b4b4','handoff.created','{"schema":"faqbot.handoff/1","delivery_id":"0e25f08867fe475cac5e84dbd2e3b4b4","event":"handoff.created","occurred_at":"2026-12-07T03:45:00.092054+00:00","ticket":{"id":1,"number":"T-000001","status":"waiting","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null}],"agent":null,"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":null,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/1"}}',1.79661510009205365183e+09,1,1.79661510009205365183e+09,1.79661510104146075251e+09,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(2,'d00f24bd0bf14a6fb7c0b131915c0b08','handoff.claimed','{"schema":"faqbot.handoff/1","delivery_id":"d00f24bd0bf14a6fb7c0b131915c0b08","event":"handoff.claimed","occurred_at":"2026-12-07T03:45:00.117490+00:00","ticket":{"id":1,"number":"T-000001","status":"with_agent","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":1796615100.1174898,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/1"}}',1.79661510011748981477e+09,1,1.79661510011748981477e+09,1.79661510104146075251e+09,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(3,'2e0fd01e856740b792680e36c3728311','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"2e0fd01e856740b792680e36c3728311","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.137585+00:00","ticket":{"id":1,"number":"T-000001","status":"with_agent","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null},{"role":"customer","text":"more from customer 1","timestamp":1796615100.137585}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":1796615100.1174898,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/1"},"message":{"role":"customer","text":"more from customer 1","author":null,"timestamp":1796615100.137585}}',1.79661510013758492472e+09,15,1.79661510013758492472e+09,NULL,1.79661510104146075251e+09,'HTTP 500','webhook','',NULL);
INSERT INTO "outbox" VALUES(4,'f5b4c27c65874d07b1e77ed85b0c8c98','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"f5b4c27c65874d07b1e77ed85b0c8c98","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.161386+00:00","ticket":{"id":1,"number":"T-000001","status":"with_agent","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null},{"role":"customer","text":"more from customer 1","timestamp":1796615100.137585},{"role":"agent","text":"reply 1 by chat","timestamp":1796615100.1613863}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":1796615100.1174898,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/1"},"message":{"role":"agent","text":"reply 1 by chat","author":"ann","timestamp":1796615100.1613863}}',1.79661510016138625152e+09,2,1.79661510016138625152e+09,NULL,NULL,'timed out','webhook','',NULL);
INSERT INTO "outbox" VALUES(5,'33f985f84f9a4b6093eda3cec14c4e8b','handoff.reply','From: bot@example.com
To: Customer 1 <c1@example.com>
Subject: [T-000001] Your question to Larkspur help
Date: Mon, 07 Dec 2026 03:45:00 +0000
Message-ID: <T-000001.33f985f84f9a4b6093eda3cec14c4e8b@example.com>
In-Reply-To: <T-000001.4fe5869f1d0e0d66@example.com>
References: <T-000001.4fe5869f1d0e0d66@example.com>
X-Faqbot-Ticket: T-000001
MIME-Version: 1.0
Content-Type: multipart/alternative;
 boundary="===============1125644056623487632=="
Content-Language: en

--===============1125644056623487632==
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

SGVsbG8gQ3VzdG9tZXIgMSwKCnJlcGx5IDEgYnkgZW1haWwKCkFubiBBZ2VudApMYXJrc3B1ciBo
ZWxwIHRlYW0KCi0tCllvdXIgcmVxdWVzdCBULTAwMDAwMToKPiBxdWVzdGlvbiAxIMOpINC2INi5
Cg==

--===============1125644056623487632==
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable
MIME-Version: 1.0

<!DOCTYPE html>
<html lang=3D"en" dir=3D"ltr">
<body style=3D"font-family: sans-serif; line-height: 1.5; color: #222;">
<p>Hello Customer 1,</p>
<div style=3D"white-space: pre-wrap;">reply 1 by email</div>
<p>Ann Agent<br>Larkspur help team</p>
<hr>
<p style=3D"color: #666;">Your request T-000001:</p>
<blockquote style=3D"color: #666; white-space: pre-wrap;">question 1 =C3=A9 =
=D0=B6 =D8=B9</blockquote>
</body>
</html>

--===============1125644056623487632==--
',1.79661510018876266481e+09,0,1.79661510018876266481e+09,NULL,NULL,NULL,'email','c1@example.com','handoff_message:3');
INSERT INTO "outbox" VALUES(6,'c121f8c0cffb4851a49210ff2bf5ce45','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"c121f8c0cffb4851a49210ff2bf5ce45","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.188763+00:00","ticket":{"id":1,"number":"T-000001","status":"with_agent","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null},{"role":"customer","text":"more from customer 1","timestamp":1796615100.137585},{"role":"agent","text":"reply 1 by chat","timestamp":1796615100.1613863},{"role":"agent","text":"reply 1 by email","timestamp":1796615100.1887627}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":1796615100.1174898,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/1"},"message":{"role":"agent","text":"reply 1 by email","author":"ann","timestamp":1796615100.1887627}}',1.79661510018876266481e+09,0,1.79661510018876266481e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(7,'3dc26b38339e41598814c445cb217e17','handoff.resolved','{"schema":"faqbot.handoff/1","delivery_id":"3dc26b38339e41598814c445cb217e17","event":"handoff.resolved","occurred_at":"2026-12-07T03:45:00.330513+00:00","ticket":{"id":1,"number":"T-000001","status":"resolved","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null},{"role":"customer","text":"more from customer 1","timestamp":1796615100.137585},{"role":"agent","text":"reply 1 by chat","timestamp":1796615100.1613863},{"role":"agent","text":"reply 1 by email","timestamp":1796615100.1887627}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":1796615100.1174898,"resolved_at":1796615100.3305125,"rating":null,"desk_url":"http://desk.example/desk/tickets/1"}}',1.79661510033051252362e+09,0,1.79661510033051252362e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(8,'88622cfe49674bc684994229f8825312','handoff.rated','{"schema":"faqbot.handoff/1","delivery_id":"88622cfe49674bc684994229f8825312","event":"handoff.rated","occurred_at":"2026-12-07T03:45:00.345664+00:00","ticket":{"id":1,"number":"T-000001","status":"resolved","conversation_id":"conv-1","channel":"socketio","language":"en","reason":"customer_request","question":"question 1 é ж ع","customer":{"customer_email":"c1@example.com","customer_name":"Customer 1"},"candidates":[{"faq_id":"faq-1","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 1","timestamp":null},{"role":"customer","text":"more from customer 1","timestamp":1796615100.137585},{"role":"agent","text":"reply 1 by chat","timestamp":1796615100.1613863},{"role":"agent","text":"reply 1 by email","timestamp":1796615100.1887627}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.0920537,"claimed_at":1796615100.1174898,"resolved_at":1796615100.3305125,"rating":{"score":5,"comment":"great, thanks"},"desk_url":"http://desk.example/desk/tickets/1"}}',1.79661510034566426277e+09,0,1.79661510034566426277e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(9,'890c1e35f9db46928e0d47b0f6eb8f50','handoff.created','{"schema":"faqbot.handoff/1","delivery_id":"890c1e35f9db46928e0d47b0f6eb8f50","event":"handoff.created","occurred_at":"2026-12-07T03:45:00.356422+00:00","ticket":{"id":2,"number":"T-000002","status":"waiting","conversation_id":"conv-2","channel":"rest","language":"ar","reason":"customer_request","question":"question 2 é ж ع","customer":{"customer_email":"c2@example.com","customer_name":"Customer 2"},"candidates":[{"faq_id":"faq-2","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 2","timestamp":null}],"agent":null,"kb_version":"v1","created_at":1796615100.356422,"claimed_at":null,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/2"}}',1.79661510035642194745e+09,0,1.79661510035642194745e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(10,'5a373793d0c843a1a42591cd77d5c077','handoff.claimed','{"schema":"faqbot.handoff/1","delivery_id":"5a373793d0c843a1a42591cd77d5c077","event":"handoff.claimed","occurred_at":"2026-12-07T03:45:00.414014+00:00","ticket":{"id":2,"number":"T-000002","status":"with_agent","conversation_id":"conv-2","channel":"rest","language":"ar","reason":"customer_request","question":"question 2 é ж ع","customer":{"customer_email":"c2@example.com","customer_name":"Customer 2"},"candidates":[{"faq_id":"faq-2","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 2","timestamp":null}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.356422,"claimed_at":1796615100.414014,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/2"}}',1.79661510041401410102e+09,0,1.79661510041401410102e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(11,'7c590f9a639e4675b1cbad6e9ec5445b','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"7c590f9a639e4675b1cbad6e9ec5445b","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.470573+00:00","ticket":{"id":2,"number":"T-000002","status":"with_agent","conversation_id":"conv-2","channel":"rest","language":"ar","reason":"customer_request","question":"question 2 é ж ع","customer":{"customer_email":"c2@example.com","customer_name":"Customer 2"},"candidates":[{"faq_id":"faq-2","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 2","timestamp":null},{"role":"customer","text":"more from customer 2","timestamp":1796615100.470573}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.356422,"claimed_at":1796615100.414014,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/2"},"message":{"role":"customer","text":"more from customer 2","author":null,"timestamp":1796615100.470573}}',1.79661510047057294847e+09,0,1.79661510047057294847e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(12,'5e69b91631904682a6b2c8266c3ec9b4','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"5e69b91631904682a6b2c8266c3ec9b4","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.564925+00:00","ticket":{"id":2,"number":"T-000002","status":"with_agent","conversation_id":"conv-2","channel":"rest","language":"ar","reason":"customer_request","question":"question 2 é ж ع","customer":{"customer_email":"c2@example.com","customer_name":"Customer 2"},"candidates":[{"faq_id":"faq-2","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 2","timestamp":null},{"role":"customer","text":"more from customer 2","timestamp":1796615100.470573},{"role":"agent","text":"reply 2 by chat","timestamp":1796615100.5649252}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.356422,"claimed_at":1796615100.414014,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/2"},"message":{"role":"agent","text":"reply 2 by chat","author":"ann","timestamp":1796615100.5649252}}',1.7966151005649251938e+09,0,1.7966151005649251938e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(13,'6050621da5b145a394207fd15cfd48e2','handoff.reply','From: bot@example.com
To: Customer 2 <c2@example.com>
Subject: [T-000002] =?utf-8?b?2LPYpNin2YTZgyDYpdmE2Ykg2YHYsdmK2YIg2YXYs9in?=
 =?utf-8?b?2LnYr9ip?= Larkspur
Date: Mon, 07 Dec 2026 03:45:00 +0000
Message-ID: <T-000002.6050621da5b145a394207fd15cfd48e2@example.com>
In-Reply-To: <T-000002.6a3b9461ce4001e5@example.com>
References: <T-000002.6a3b9461ce4001e5@example.com>
X-Faqbot-Ticket: T-000002
MIME-Version: 1.0
Content-Type: multipart/alternative;
 boundary="===============6687974885160483805=="
Content-Language: ar

--===============6687974885160483805==
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

2YXYsdit2KjYp9mLIEN1c3RvbWVyIDLYjAoKcmVwbHkgMiBieSBlbWFpbAoKQW5uIEFnZW50CtmB
2LHZitmCINmF2LPYp9i52K/YqSBMYXJrc3B1cgoKLS0K2LfZhNio2YMgVC0wMDAwMDI6Cj4gcXVl
c3Rpb24gMiDDqSDQtiDYuQo=

--===============6687974885160483805==
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable
MIME-Version: 1.0

<!DOCTYPE html>
<html lang=3D"ar" dir=3D"rtl">
<body style=3D"font-family: sans-serif; line-height: 1.6; color: #222;">
<p>=D9=85=D8=B1=D8=AD=D8=A8=D8=A7=D9=8B Customer 2=D8=8C</p>
<div style=3D"white-space: pre-wrap;">reply 2 by email</div>
<p>Ann Agent<br>=D9=81=D8=B1=D9=8A=D9=82 =D9=85=D8=B3=D8=A7=D8=B9=D8=AF=D8=A9=
 Larkspur</p>
<hr>
<p style=3D"color: #666;">=D8=B7=D9=84=D8=A8=D9=83 T-000002:</p>
<blockquote style=3D"color: #666; white-space: pre-wrap;">question 2 =C3=A9 =
=D0=B6 =D8=B9</blockquote>
</body>
</html>

--===============6687974885160483805==--
',1.79661510068818831443e+09,0,1.79661510068818831443e+09,NULL,NULL,NULL,'email','c2@example.com','handoff_message:7');
INSERT INTO "outbox" VALUES(14,'e94ce8d2304d48f6aecf5ba04e5eea0e','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"e94ce8d2304d48f6aecf5ba04e5eea0e","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.688188+00:00","ticket":{"id":2,"number":"T-000002","status":"with_agent","conversation_id":"conv-2","channel":"rest","language":"ar","reason":"customer_request","question":"question 2 é ж ع","customer":{"customer_email":"c2@example.com","customer_name":"Customer 2"},"candidates":[{"faq_id":"faq-2","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 2","timestamp":null},{"role":"customer","text":"more from customer 2","timestamp":1796615100.470573},{"role":"agent","text":"reply 2 by chat","timestamp":1796615100.5649252},{"role":"agent","text":"reply 2 by email","timestamp":1796615100.6881883}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.356422,"claimed_at":1796615100.414014,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/2"},"message":{"role":"agent","text":"reply 2 by email","author":"ann","timestamp":1796615100.6881883}}',1.79661510068818831443e+09,0,1.79661510068818831443e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(15,'6add380dae4d4a51b5f618f6e74dd469','handoff.released','{"schema":"faqbot.handoff/1","delivery_id":"6add380dae4d4a51b5f618f6e74dd469","event":"handoff.released","occurred_at":"2026-12-07T03:45:00.856462+00:00","ticket":{"id":2,"number":"T-000002","status":"waiting","conversation_id":"conv-2","channel":"rest","language":"ar","reason":"customer_request","question":"question 2 é ж ع","customer":{"customer_email":"c2@example.com","customer_name":"Customer 2"},"candidates":[{"faq_id":"faq-2","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 2","timestamp":null},{"role":"customer","text":"more from customer 2","timestamp":1796615100.470573},{"role":"agent","text":"reply 2 by chat","timestamp":1796615100.5649252},{"role":"agent","text":"reply 2 by email","timestamp":1796615100.6881883}],"agent":null,"kb_version":"v1","created_at":1796615100.356422,"claimed_at":1796615100.414014,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/2"}}',1.79661510085646152498e+09,0,1.79661510085646152498e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(16,'9839e1af3d98494dbc211e115fee3fe6','handoff.created','{"schema":"faqbot.handoff/1","delivery_id":"9839e1af3d98494dbc211e115fee3fe6","event":"handoff.created","occurred_at":"2026-12-07T03:45:00.877424+00:00","ticket":{"id":3,"number":"T-000003","status":"waiting","conversation_id":"conv-3","channel":"socketio","language":"ru","reason":"customer_request","question":"question 3 é ж ع","customer":{"customer_id":"cust-3"},"candidates":[{"faq_id":"faq-3","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 3","timestamp":null}],"agent":null,"kb_version":"v1","created_at":1796615100.8774242,"claimed_at":null,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/3"}}',1.79661510087742424006e+09,0,1.79661510087742424006e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(17,'2d462fae563441c1a006e6eab0e04e81','handoff.claimed','{"schema":"faqbot.handoff/1","delivery_id":"2d462fae563441c1a006e6eab0e04e81","event":"handoff.claimed","occurred_at":"2026-12-07T03:45:00.895610+00:00","ticket":{"id":3,"number":"T-000003","status":"with_agent","conversation_id":"conv-3","channel":"socketio","language":"ru","reason":"customer_request","question":"question 3 é ж ع","customer":{"customer_id":"cust-3"},"candidates":[{"faq_id":"faq-3","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 3","timestamp":null}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.8774242,"claimed_at":1796615100.89561,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/3"}}',1796615100.89561,0,1796615100.89561,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(18,'47cfefde2ae140d0b88679defcaad64a','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"47cfefde2ae140d0b88679defcaad64a","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.921408+00:00","ticket":{"id":3,"number":"T-000003","status":"with_agent","conversation_id":"conv-3","channel":"socketio","language":"ru","reason":"customer_request","question":"question 3 é ж ع","customer":{"customer_id":"cust-3"},"candidates":[{"faq_id":"faq-3","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 3","timestamp":null},{"role":"customer","text":"more from customer 3","timestamp":1796615100.9214077}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.8774242,"claimed_at":1796615100.89561,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/3"},"message":{"role":"customer","text":"more from customer 3","author":null,"timestamp":1796615100.9214077}}',1.79661510092140769964e+09,0,1.79661510092140769964e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(19,'f911f2ac684243838fce551b8d3f58e4','handoff.message','{"schema":"faqbot.handoff/1","delivery_id":"f911f2ac684243838fce551b8d3f58e4","event":"handoff.message","occurred_at":"2026-12-07T03:45:00.942122+00:00","ticket":{"id":3,"number":"T-000003","status":"with_agent","conversation_id":"conv-3","channel":"socketio","language":"ru","reason":"customer_request","question":"question 3 é ж ع","customer":{"customer_id":"cust-3"},"candidates":[{"faq_id":"faq-3","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 3","timestamp":null},{"role":"customer","text":"more from customer 3","timestamp":1796615100.9214077},{"role":"agent","text":"reply 3 by chat","timestamp":1796615100.942122}],"agent":{"username":"ann","display_name":"Ann Agent"},"kb_version":"v1","created_at":1796615100.8774242,"claimed_at":1796615100.89561,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/3"},"message":{"role":"agent","text":"reply 3 by chat","author":"ann","timestamp":1796615100.942122}}',1.79661510094212198253e+09,0,1.79661510094212198253e+09,NULL,NULL,NULL,'webhook','',NULL);
INSERT INTO "outbox" VALUES(20,'a1364b1da3ba4824859c1534a6a54ec3','handoff.created','{"schema":"faqbot.handoff/1","delivery_id":"a1364b1da3ba4824859c1534a6a54ec3","event":"handoff.created","occurred_at":"2026-12-07T03:45:00.975196+00:00","ticket":{"id":4,"number":"T-000004","status":"waiting","conversation_id":"conv-4","channel":"rest","language":"en","reason":"low_confidence","question":"question 4 é ж ع","customer":{"customer_email":"c4@example.com","customer_name":"Customer 4"},"candidates":[{"faq_id":"faq-4","question":"q","score":0.4}],"transcript":[{"role":"user","text":"hello 4","timestamp":null}],"agent":null,"kb_version":"v1","created_at":1796615100.9751964,"claimed_at":null,"resolved_at":null,"rating":null,"desk_url":"http://desk.example/desk/tickets/4"}}',1.79661510097519636153e+09,0,1.79661510097519636153e+09,NULL,NULL,NULL,'webhook','',NULL);
CREATE TABLE rasa_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ticket_id INTEGER,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    done_at REAL,
    last_error TEXT
);
INSERT INTO "rasa_commands" VALUES(1,'conv-1','deliver',1,1.79661510016138625152e+09,0,1.79661510016138625152e+09,1.79661510099891901012e+09,NULL);
INSERT INTO "rasa_commands" VALUES(2,'conv-1','resume_resolved',1,1.79661510033051252362e+09,1,1.79661513101876282689e+09,NULL,'Rasa is down');
INSERT INTO "rasa_commands" VALUES(3,'conv-2','deliver',2,1.7966151005649251938e+09,0,1.7966151005649251938e+09,NULL,NULL);
INSERT INTO "rasa_commands" VALUES(4,'conv-3','deliver',3,1.79661510094212198253e+09,0,1.79661510094212198253e+09,NULL,NULL);
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    language TEXT NOT NULL,
    kind TEXT NOT NULL,
    score INTEGER NOT NULL,
    created_at REAL NOT NULL
);
INSERT INTO "surveys" VALUES(1,'conv-9','socketio','en','csat',4,1.79661510110148739819e+09);
INSERT INTO "surveys" VALUES(2,'conv-9','socketio','en','ces',2,1.7966151011192667484e+09);
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "users" VALUES('ann','Ann Agent','agent','scrypt:32768:8:1$kiOArbfYLrhB8hJd$f37c5e18db3ad6bdbdb0c8c92779dcf80b5036e409ddc33d657944ae4cb8a73800988ed3da8d42a2c39820a8ed6d9bda7fcc7dc27cd229582a1bcbcb2ea52d2f',1.79661509978307390219e+09,0);
INSERT INTO "users" VALUES('eve','Eve Admin','admin','scrypt:32768:8:1$nNUaMir9u3puEbsk$c7fe40ef8fc2a303d1636299852fc0b26a3feb7b2b066f1540543d81067a268390442d8919e425e51064b18432f07e86ebc7249fc23bebf7c4ff2b19de739202',1.79661509993800449372e+09,0);
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
INSERT INTO "web_sessions" VALUES('4094b0799d718235eec19dba4119c0078d7e4c8b0fcb39f0a2f783966f7ce9d0','ann','EgM2Qvy-epyFI705fg8Ui0KAE_di5CU08-ajib2P4i8',1.79661509994535136219e+09,1.79661509994535136219e+09,1.79665829994535136224e+09);
CREATE INDEX handoff_tickets_conversation ON handoff_tickets (conversation_id);
CREATE INDEX handoff_events_ticket ON handoff_events (ticket_id);
CREATE INDEX handoff_messages_ticket ON handoff_messages (ticket_id, id);
CREATE UNIQUE INDEX handoff_messages_source
    ON handoff_messages (ticket_id, role, source_ts) WHERE source_ts IS NOT NULL;
CREATE INDEX handoff_messages_undelivered
    ON handoff_messages (conversation_id, id) WHERE role = 'agent' AND delivered_at IS NULL;
CREATE INDEX rasa_commands_due ON rasa_commands (done_at, next_attempt_at);
CREATE INDEX surveys_created ON surveys (created_at);
CREATE INDEX web_sessions_user ON web_sessions (username);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX answer_feedback_created ON answer_feedback (created_at);
CREATE INDEX handoff_tickets_status ON handoff_tickets (status, id);
CREATE INDEX handoff_tickets_email ON handoff_tickets (customer_email);
CREATE INDEX handoff_tickets_customer ON handoff_tickets (customer_key);
CREATE UNIQUE INDEX handoff_tickets_spool ON handoff_tickets (spool_id) WHERE spool_id IS NOT NULL;
CREATE INDEX outbox_pending ON outbox (channel, receiver, id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead ON outbox (channel, dead_at) WHERE dead_at IS NOT NULL;
CREATE INDEX outbox_ref ON outbox (ref) WHERE ref IS NOT NULL;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('login_failures',2);
INSERT INTO "sqlite_sequence" VALUES('handoff_tickets',4);
INSERT INTO "sqlite_sequence" VALUES('handoff_events',10);
INSERT INTO "sqlite_sequence" VALUES('outbox',20);
INSERT INTO "sqlite_sequence" VALUES('handoff_messages',11);
INSERT INTO "sqlite_sequence" VALUES('rasa_commands',4);
INSERT INTO "sqlite_sequence" VALUES('answer_feedback',2);
INSERT INTO "sqlite_sequence" VALUES('surveys',2);
COMMIT;
