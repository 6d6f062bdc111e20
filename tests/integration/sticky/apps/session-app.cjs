#!/usr/bin/env node
// An Express app whose sessions live in the worker's memory (express-session's default
// MemoryStore, cookie `connect.sid`), as most apps start out: a session is only known to the
// worker that created it. Every answer names that worker and echoes what the app received.
//
//   PORT=3000 node session-app.cjs
//
// GET /login?user=U -> creates the session (Set-Cookie connect.sid, and theme=dark in the same
//                      response), answers { worker, pid, user, n: 0, cookie }
// GET /me           -> { worker, pid, user (null: a session this worker does not know), n (+1
//                      per request), sessionCookie (connect.sid as the app read it), cookie }
// GET /logout       -> destroys the session and clears the cookie (Expires in 1970)
// GET /ready        -> 200
'use strict';

const express = require('express');
const session = require('express-session');

const port = Number(process.env.PORT ?? 3000);
const worker = process.env.DROVER_WORKER_ID ?? String(port);
const app = express();
app.use(
  session({
    secret: 'drover-test-secret',
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 3600 * 1000, sameSite: 'lax' },
  }),
);

const sessionCookie = (req) => {
  const m = /(?:^|;\s*)connect\.sid=([^;]*)/.exec(req.headers.cookie ?? '');
  return m ? m[1] : null;
};
const answer = (req, res, extra = {}) =>
  res.json({ worker, pid: process.pid, user: req.session.user ?? null, n: req.session.n ?? null, sessionCookie: sessionCookie(req), cookie: req.headers.cookie ?? null, ...extra });

app.get('/ready', (req, res) => res.send('ok'));
app.get('/login', (req, res) => {
  req.session.user = String(req.query.user ?? 'anonymous');
  req.session.n = 0;
  res.cookie('theme', 'dark', { path: '/' });
  answer(req, res);
});
app.get('/me', (req, res) => {
  if (req.session.user !== undefined) req.session.n += 1;
  answer(req, res);
});
app.get('/logout', (req, res) => {
  req.session.destroy(() => {
    res.clearCookie('connect.sid', { path: '/' });
    res.json({ worker, pid: process.pid, loggedOut: true });
  });
});

const server = app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
