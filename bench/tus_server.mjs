// tus_server: @tus/server with @tus/file-store on DIR at 127.0.0.1:PORT/files, the comparison
// target of bench/uploads.sh. usage: node bench/tus_server.mjs PORT DIR
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const [port, dir] = process.argv.slice(2);
const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
server.listen({ host: '127.0.0.1', port: Number(port) });
