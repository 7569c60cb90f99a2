// A stand-in service for libs/testing's own specs: answers /health on CHILD_PORT, or with
// CHILD_EXIT set exits at once with that code (a service that fails to start).
import { createServer } from 'node:http';

if (process.env.CHILD_EXIT) process.exit(Number(process.env.CHILD_EXIT));
createServer((_req, res) => res.writeHead(200).end('ok')).listen(Number(process.env.CHILD_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
