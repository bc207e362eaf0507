#include "qw/aggregator/api/page.h"

namespace qw::aggregator {

const char* const kDashboardPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quorumwatch</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}.s{font-weight:bold;padding:.2em .5em;border-radius:4px}
.HEALTHY{background:#c8f0c8}.DEGRADED{background:#fff1b8}.AT_RISK,.CRITICAL{background:#ffd0a0}
.QUORUM_LOST{background:#f5a0a0}.UNKNOWN{background:#ddd}
table{border-collapse:collapse;margin-top:1em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.bad{color:#a00}
</style></head><body>
<h1>quorumwatch <span id="c"></span></h1>
<div id="sum">loading...</div><ul id="why"></ul>
<table><thead><tr><th>member</th><th>node</th><th>id</th><th>healthy</th><th>leader</th>
<th>learner</th><th>applied index</th><th>reasons</th></tr></thead><tbody id="m"></tbody></table>
<p>API: <a href="/api/v1/cluster">/api/v1/cluster</a> · <a href="/api/v1/nodes">/api/v1/nodes</a></p>
<script>
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
async function tick(){
  try{
    const v=await (await fetch('/api/v1/cluster')).json();
    document.getElementById('c').textContent=v.cluster_name;
    document.getElementById('sum').innerHTML='<span class="s '+v.state+'">'+v.state+'</span> '+
      'failure tolerance <b>'+v.failure_tolerance+'</b>, '+v.healthy_members+' of '+v.voting_members+
      ' voting members healthy (quorum '+v.quorum_size+'), leader '+esc(v.leader||'none')+' · '+esc(v.updated_at);
    document.getElementById('why').innerHTML=v.reasons.concat(v.warnings.map(w=>w.message+' — '+w.action))
      .map(r=>'<li>'+esc(r)+'</li>').join('');
    document.getElementById('m').innerHTML=v.members.map(m=>'<tr><td>'+esc(m.name)+'</td><td>'+esc(m.node)+
      '</td><td>'+esc(m.member_id)+'</td><td class="'+(m.healthy?'':'bad')+'">'+m.healthy+'</td><td>'+
      (m.is_leader?'yes':'')+'</td><td>'+(m.is_learner?'yes':'')+'</td><td>'+m.raft_applied_index+
      '</td><td>'+esc(m.reasons.join('; '))+'</td></tr>').join('');
  }catch(e){document.getElementById('sum').textContent='aggregator unreachable: '+e}
}
tick();setInterval(tick,2000);
</script></body></html>
)html";

}  // namespace qw::aggregator
