"""Writes the made seeds for tests/fuzz/run.sh: small NIfTI-1/-2 files (nibabel), a numeric
CSV, a YAML config, manifest CSVs like the demo's and .npy files (numpy) of several dtypes,
shapes, C/Fortran order and format versions 1.0/2.0. Usage: make_seeds.py SEEDS_DIR"""
import io
import os
import sys

import nibabel as nib
import numpy as np


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def nifti(d):
    # First byte picks the suffix in fuzz_nifti: 0 → .nii, 1 → .nii.gz.
    a = np.arange(60, dtype=np.int16).reshape(5, 4, 3)
    for name, img in [('n1', nib.Nifti1Image(a, np.eye(4))), ('n2', nib.Nifti2Image(a.astype(np.float32), np.eye(4)))]:
        for prefix, ext in ((b'\x00', '.nii'), (b'\x01', '.nii.gz')):
            tmp = os.path.join(d, 'tmp' + ext)
            nib.save(img, tmp)
            with open(tmp, 'rb') as f:
                write(os.path.join(d, name + ext.replace('.', '_')), prefix + f.read())
            os.remove(tmp)


def manifests(d):
    # The demo's shape: id,patient_id,path,labels,split plus one 0/1 column per label.
    labels = ['Atelectasis', 'Effusion', 'Mass', 'No Finding']
    rows = [('00000001_000.png', 'P00001', 'images/00000001_000.png', ['Mass', 'Effusion'], 'train'),
            ('00000001_001.png', 'P00001', 'images/00000001_001.png', ['No Finding'], 'train'),
            ('00000002_000.png', 'P00002', 'images/00000002_000.png', [], 'val'),
            ('00000003_000.png', 'P00003', '/abs/images/00000003_000.png', ['Atelectasis'], 'test'),
            ('00000004_000.png', '', 'images/00000004_000.png', ['Mass'], '')]
    out = ['id,patient_id,path,labels,split,' + ','.join(labels)]
    for i, p, path, pos, split in rows:
        cols = ['1' if l in pos else '0' for l in labels]
        out.append(','.join([i, p, path, '|'.join(pos), split] + cols))
    write(os.path.join(d, 'demo.csv'), ('\n'.join(out) + '\n').encode())
    write(os.path.join(d, 'plain.csv'),
          b'id,patient_id,path,labels,split\na,P1,a.png,Mass,train\nb,P2,b.png,,test\n')
    write(os.path.join(d, 'quoted_crlf.csv'),
          b'\xef\xbb\xbfid,path,labels,split,"A, B",C\r\n"x ""1""",x.dcm,"A, B|C",val,1,1\r\ny,y.dcm,,train,,0\r\n')
    write(os.path.join(d, 'minimal.csv'), b'path,id\nf.nii.gz,s1\n')


def npys(d):
    arrays = {
        'f4_3d': np.arange(24, dtype='<f4').reshape(2, 3, 4),
        'f8_2d': np.linspace(-1, 1, 12).reshape(3, 4),
        'f2_1d': np.array([0, 1, -2.5, np.inf, np.nan], dtype='<f2'),
        'u1_2d': np.arange(16, dtype=np.uint8).reshape(4, 4),
        'i1': np.array([-128, 0, 127], dtype=np.int8),
        'u2': np.array([0, 65535], dtype='<u2'),
        'i2_2d': np.arange(-6, 6, dtype='<i2').reshape(3, 4),
        'u4': np.array([1, 2**32 - 1], dtype='<u4'),
        'i4_4d': np.arange(16, dtype='<i4').reshape(2, 2, 2, 2),
        'u8': np.array([0, 2**64 - 1], dtype='<u8'),
        'i8': np.array([-2**63, 5], dtype='<i8'),
        'b1': np.array([True, False, True]),
        'scalar': np.array(3.5, dtype='<f4'),
        'empty': np.zeros((0, 3), dtype='<f4'),
        'big_endian': np.arange(4, dtype='>f4'),
        'fortran': np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)),
        'structured': np.zeros(2, dtype=[('a', '<f4'), ('b', '<i2')]),
    }
    for name, a in arrays.items():
        for version in ((1, 0), (2, 0)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a, version=version, allow_pickle=False)
            write(os.path.join(d, 'v%d_%s.npy' % (version[0], name)), buf.getvalue())


def main():
    seeds = sys.argv[1]
    nifti(os.path.join(seeds, 'fuzz_nifti'))
    write(os.path.join(seeds, 'fuzz_csv', 'a.csv'), b'study_id,prox_rca_stenosis,note,cto\n0001,12.5,"a, b",0.01\n"0002",1e2,x,\n3,nan,y,0.5\n')
    write(os.path.join(seeds, 'fuzz_yaml', 'a.yaml'), b'task: roi_consistency\nseed: 7\nepochs: 3\nbatch_size: 8\nlr: 1e-4\nloss_weights:\n  contrastive: 1.0\n')
    manifests(os.path.join(seeds, 'fuzz_manifest'))
    npys(os.path.join(seeds, 'fuzz_npy'))


if __name__ == '__main__':
    main()
