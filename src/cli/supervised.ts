/**
 * Entry point of the demo's `weft control` and `weft proxy` children: the weft command line, run
 * with an IPC channel to the demo. If the demo dies without stopping them (SIGKILL, a crash), the
 * channel closes and the child stops as on SIGTERM (draining first), so no component outlives
 * the demo holding its ports. Usage: node supervised.js <weft arguments>.
 */
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
// The channel must not keep a child alive that has finished on its own.
process.channel?.unref();

// Runs the weft command line on this process's arguments (argv[2…]).
require('./main');
