// What a master standing by shows instead of the cluster (it has none: the
// leading master holds it): that it stands by, and a link to the leader, or
// that no master leads at the moment. app.js shows it while /state says
// leading: false, and the page asked for once this master leads.
import { leaderUrl } from '../api.js';
import { details, h } from '../dom.js';

// The panel for a standby's /state.
export function standbyPanel(standby) {
  const url = leaderUrl(standby.leader_info);
  // The same view on the leader: its address with this page's hash.
  const leader = url
    ? h('p', { class: 'standby-leader' }, 'The leading master is ',
      h('a', { class: 'leader-link', href: `${url}/${window.location.hash}` }, `${url}/`), '.')
    : h('p', { class: 'standby-leader' }, 'No master leads at the moment. ZooKeeper elects one within its ',
      'session timeout; this page follows the election.');
  return h('section', { class: 'panel standby', id: 'standby' },
    h('h1', {}, 'This master is standing by.'),
    leader,
    h('p', { class: 'muted' }, 'A standby keeps no cluster state: the leading master has the agents, frameworks ',
      'and tasks. Should this master be elected, this page shows them.'),
    details([
      ['This master', `${standby.id} at ${standby.endpoint}`],
      ['Leader', standby.leader_info ? `${standby.leader_info.id} at ${standby.leader_info.endpoint ?? url}` : null],
      ['Elected through', standby.zk],
    ]));
}
