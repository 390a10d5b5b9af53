"""The machine's matrix-product headroom for issue 7: one ViT-B/32 encoder layer's products on 15 windows (750
tokens: q, k, v, out 768x768, fc1 768x3072, fc2 3072x768), float32 and int8 dynamic, torch and ONNX Runtime.

    python benchmarks/bench_gemm_peak.py 1     # threads (1 or 2)

Prints ms per layer, GOP/s and the ratio to torch float32, repeats interleaved; x12 is the tower's products.
Measured on the project's 2-core AMD EPYC (Zen 3, AVX2/FMA, no AVX-512/VNNI) at load ~5.5, 1 thread: int8 is
0.52x (ORT) / 0.60x (torch) the float32 time, so int8 alone cannot bring the whole path to 0.40x.
"""
import time, torch, numpy as np, onnxruntime as ort, onnx, sys, warnings
warnings.simplefilter('ignore')
from onnx import helper, TensorProto, numpy_helper
from onnxruntime.quantization import quantize_dynamic, QuantType
import tempfile
TMP = tempfile.mkdtemp(prefix='liqe-gemm-')
th = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(th)
shapes=[(768,768)]*4+[(768,3072),(3072,768)]
M=750
def layer_onnx(path):
    nodes=[];inits=[]
    for i,(K,N) in enumerate(shapes):
        inits.append(numpy_helper.from_array(np.random.randn(K,N).astype(np.float32)*0.02,f'W{i}'))
        nodes.append(helper.make_node('MatMul',[f'A{K}',f'W{i}'],[f'Y{i}']))
    g=helper.make_graph(nodes,'g',[helper.make_tensor_value_info('A768',TensorProto.FLOAT,[M,768]),helper.make_tensor_value_info('A3072',TensorProto.FLOAT,[M,3072])],[helper.make_tensor_value_info(f'Y{i}',TensorProto.FLOAT,None) for i in range(6)],inits)
    onnx.save(helper.make_model(g,opset_imports=[helper.make_opsetid('',18)]),path)
layer_onnx('' + TMP + '/layer.onnx')
quantize_dynamic('' + TMP + '/layer.onnx','' + TMP + '/layerq.onnx',weight_type=QuantType.QInt8)
so=ort.SessionOptions(); so.intra_op_num_threads=th
sf=ort.InferenceSession('' + TMP + '/layer.onnx',so,providers=['CPUExecutionProvider'])
sq=ort.InferenceSession('' + TMP + '/layerq.onnx',so,providers=['CPUExecutionProvider'])
feed={'A768':np.random.randn(M,768).astype(np.float32),'A3072':np.random.randn(M,3072).astype(np.float32)}
lins=torch.nn.ModuleList([torch.nn.Linear(K,N) for K,N in shapes])
qlins=torch.ao.quantization.quantize_dynamic(lins,{torch.nn.Linear:torch.ao.quantization.per_channel_dynamic_qconfig})
x={768:torch.randn(M,768),3072:torch.randn(M,3072)}
def tf(ls):
    with torch.inference_mode():
        for (K,N),l in zip(shapes,ls): l(x[K])
F={'torch fp32':lambda: tf(lins),'torch int8':lambda: tf(qlins),'ort fp32':lambda: sf.run(None,feed),'ort int8':lambda: sq.run(None,feed)}
T={k:[] for k in F}
for f in F.values(): f()
for r in range(7):
    for k,f in F.items():
        t=time.perf_counter(); f(); T[k].append(time.perf_counter()-t)
fl=2*M*sum(K*N for K,N in shapes)
b=np.median(T['torch fp32'])
for k in F: 
    t=np.median(T[k]); print(f'th{th} {k:11s} {t*1e3:7.1f} ms/layer  {fl/t/1e9:6.0f} GOP/s  {t/b:.3f}x  (x12 layers = {t*12e3:.0f} ms/image)')
