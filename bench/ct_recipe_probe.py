# PyTorch 1.13 probe of the ct_multilabel demo recipe (docs/ct-multilabel.md, "Why the demo did not learn").
# /usr/bin/python3 bench/ct_recipe_probe.py ws=DEMO_WS norm=bn|gn|gn2|none ep=10 [full=1 stem=2 s=[1,2,1] w=[8,16,32] lo=-1000 hi=1000 lr=3e-3 init=py|kaiming pool=max|avg|avgmax
#   win=[(-1000,1000),(-1350,150),(-160,240)]   (HU windows as input channels; default [(lo,hi)])]
# Caches the volumes in /tmp/exp/X<full>_<workspace folder name>.pt; prints validation AUROC per epoch (7 planted findings).
import torch, time, numpy as np, nibabel as nib, pandas as pd, sys, os
from sklearn.metrics import roc_auc_score
torch.set_num_threads(2); torch.manual_seed(0)
args=dict(a.split('=') for a in sys.argv[1:])
ws=args.get('ws','/tmp/ctws')
df=pd.read_csv(ws+'/ct/labels.csv'); labels=list(df.columns[1:])
full=int(args.get('full',0)); lo=float(args.get('lo',-1000)); hi=float(args.get('hi',1000))
norm=args.get('norm','gn'); lr=float(args.get('lr',3e-3)); epochs=int(args.get('ep',12)); widths=eval(args.get('w','[8,16,16]'))
strides=eval(args.get('s','[2,1,1]')); stem=int(args.get('stem',1)); pool=args.get('pool','max'); init=args.get('init','py')
os.makedirs('/tmp/exp',exist_ok=True); cache='/tmp/exp/X%d_%s.pt'%(full,os.path.basename(os.path.normpath(ws)))
if os.path.exists(cache): X=torch.load(cache)
else:
    X=[]
    for n in df.VolumeName:
        v=np.asarray(nib.load(ws+'/ct/volumes/'+n).dataobj).astype(np.float32)
        t=torch.from_numpy(np.transpose(v,(2,1,0)).copy())[None,None]
        if not full: t=torch.nn.functional.avg_pool3d(t,2)
        X.append(t[0])
    X=torch.stack(X); torch.save(X,cache)
wins=eval(args.get('win','[(lo,hi)]'))
X=torch.cat([(X.clamp(a,b)-a)/(b-a)*2-1 for a,b in wins],1)
only=args.get('only')
if only: labels=[only]
Y=torch.tensor(df[labels].values,dtype=torch.float32)
rng=np.random.RandomState(0); idx=rng.permutation(len(X)); nv=len(X)//4; va=idx[:nv]; tr=idx[nv:]
from ct_recipe_model import RecipeNet
m=RecipeNet(len(wins), widths, strides, len(labels), stem, norm, pool)
if init=='kaiming':
    for mod in m.modules():
        if isinstance(mod,torch.nn.Conv3d): torch.nn.init.kaiming_normal_(mod.weight,mode='fan_out',nonlinearity='relu')
opt=torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.01)
t0=time.time(); c0=time.process_time()
clear=['Lung nodule','Pleural effusion','Cardiomegaly','Emphysema','Consolidation','Lung opacity','Atelectasis']
for ep in range(epochs):
    m.train(); perm=np.random.RandomState(ep).permutation(tr)
    for b in range(0,len(perm),8):
        i=perm[b:b+8]; out=m(X[i])
        l=torch.nn.functional.binary_cross_entropy_with_logits(out,Y[i])
        opt.zero_grad(); l.backward(); opt.step()
    m.eval()
    with torch.no_grad(): p=torch.sigmoid(torch.cat([m(X[va[j:j+8]]) for j in range(0,len(va),8)])).numpy()
    au={}
    for k,lab in enumerate(labels):
        y=Y[va,k].numpy()
        if 0<y.sum()<len(y): au[lab]=roc_auc_score(y,p[:,k])
    print(ep, "%.0fs cpu %.0fs"%(time.time()-t0, time.process_time()-c0), "macro %.3f clear %.3f"%(np.mean(list(au.values())), np.mean([au[c] for c in clear if c in au] or [0])), " ".join("%s:%.2f"%(c[:6],au.get(c,-1)) for c in clear), flush=True)
