import sys, json
for f in sys.argv[1:]:
    print("==", f)
    for l in open(f):
        l = l.strip()
        if l.startswith("{"):
            r = json.loads(l)
            print(r["step"], r["minutes"], "L", r.get("loss_rank"), r.get("loss_ce"), r.get("loss_dist"), "| synth", r["synth_srcc"], r["synth_acc"], "| unseen", r["unseen_srcc"], r["unseen_kind_srcc"], "s", r["logit_scale"], r["score_range"])
        elif l and "Warn" not in l and "detach" not in l:
            print(l[:150])
