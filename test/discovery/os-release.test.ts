import t from 'tap';
import { osNameFromOsRelease } from '../../agent/discovery/os-release.js';

t.test('PRETTY_NAME wins, quoted as distributions write it', async (t) => {
  t.equal(osNameFromOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'), 'Debian GNU/Linux 12 (bookworm)');
  t.equal(osNameFromOsRelease("NAME='Alibaba Cloud Linux'\nPRETTY_NAME='Alibaba Cloud Linux 3.2104 U10 (OpenAnolis Edition)'\n"), 'Alibaba Cloud Linux 3.2104 U10 (OpenAnolis Edition)');
  t.equal(osNameFromOsRelease('PRETTY_NAME="say \\"hi\\" \\$HOME"\n'), 'say "hi" $HOME');
});

t.test('without PRETTY_NAME, NAME and VERSION are joined', async (t) => {
  t.equal(osNameFromOsRelease('NAME=Ubuntu\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\n'), 'Ubuntu 22.04.4 LTS (Jammy Jellyfish)');
  t.equal(osNameFromOsRelease('NAME=Alpine\n'), 'Alpine');
});

t.test('garbage, comments and empty files give null', async (t) => {
  t.equal(osNameFromOsRelease(''), null);
  t.equal(osNameFromOsRelease('# PRETTY_NAME="commented"\nthis is not os-release\n'), null);
  t.equal(osNameFromOsRelease('PRETTY_NAME=""\nVERSION=1\n'), null);
});
