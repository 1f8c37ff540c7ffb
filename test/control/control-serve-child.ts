// Test-only entry point: `weft control`'s serve path (runControl) with a scripted MeshSource in place
// of the YAML model, so its signals, addresses and shutdown can be tested in a real child process.
import { runControl } from '../../src/cli/control';
import { ScriptedMesh } from './server/scripted-mesh';

const [xdsAddress, debugAddress] = process.argv.slice(2);
const mesh = new ScriptedMesh([{ name: 'details', port: 9080, endpoints: [19080] }]);
mesh.configProblems = [{ file: 'bad.yaml', resource: 'VirtualService/default/x', field: 'spec.hosts', message: 'required' }];
runControl({ configDir: 'scripted', xdsAddress, debugAddress }, async () => mesh).then((code) => {
  process.exitCode = code;
});
